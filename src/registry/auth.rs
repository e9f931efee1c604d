//! Credentials and authentication challenges.
//!
//! Credentials come from Docker's `config.json` (`$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`) or podman's `$REGISTRY_AUTH_FILE`: inline
//! `auths` entries, per-registry `credHelpers` and a default `credsStore`,
//! exactly as the Docker CLI reads them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

/// A user name and secret for one registry. Never printed: `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name (or robot account name).
    pub username: String,
    /// Password or token.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}:****)", self.username)
    }
}

impl Credentials {
    /// The `Authorization: Basic` value.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Problems reading credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The config file exists but is not valid.
    #[error("cannot read registry credentials from {path}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A credential helper failed.
    #[error("credential helper `docker-credential-{helper}` failed for {host}: {detail}")]
    Helper {
        /// The helper's suffix.
        helper: String,
        /// The registry.
        host: String,
        /// What went wrong.
        detail: String,
    },
    /// An `auth` entry of a config file is not base64 of `user:password`.
    #[error("the `auth` entry for {key} in {path} is not valid: {reason}")]
    BadAuth {
        /// The file it is in.
        path: PathBuf,
        /// The registry key of the entry.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Reads credentials for registry hosts from Docker/podman configuration.
#[derive(Debug, Default)]
pub struct CredentialStore {
    config: DockerConfig,
    /// The file each `auths` entry came from, for messages.
    auth_files: std::collections::HashMap<String, PathBuf>,
    /// Answers already found, by host: a credential helper runs once per
    /// registry per process.
    answers: std::sync::Mutex<std::collections::HashMap<String, Option<Credentials>>>,
}

impl CredentialStore {
    /// Loads the configuration files that exist; none at all is fine.
    pub fn load() -> Result<Self, CredentialError> {
        let mut candidates = Vec::new();
        if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
            candidates.push(PathBuf::from(file));
        }
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            candidates.push(PathBuf::from(dir).join("config.json"));
        } else if let Some(home) = std::env::var_os("HOME") {
            candidates.push(PathBuf::from(home).join(".docker").join("config.json"));
        }
        let mut merged = DockerConfig::default();
        let mut auth_files = std::collections::HashMap::new();
        for path in candidates {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(CredentialError::Config {
                        path,
                        source: Box::new(error),
                    })
                }
            };
            let config: DockerConfig =
                serde_json::from_str(&text).map_err(|error| CredentialError::Config {
                    path: path.clone(),
                    source: Box::new(error),
                })?;
            for (key, value) in config.auths {
                if let std::collections::btree_map::Entry::Vacant(slot) = merged.auths.entry(key) {
                    auth_files.insert(slot.key().clone(), path.clone());
                    slot.insert(value);
                }
            }
            for (key, value) in config.cred_helpers {
                merged.cred_helpers.entry(key).or_insert(value);
            }
            if merged.creds_store.is_none() {
                merged.creds_store = config.creds_store;
            }
        }
        Ok(Self {
            config: merged,
            auth_files,
            answers: std::sync::Mutex::default(),
        })
    }

    /// Credentials for a registry host, if any are configured; asked of the
    /// configuration (and its helpers) once per host.
    pub fn get(&self, host: &str) -> Result<Option<Credentials>, CredentialError> {
        if let Some(known) = self.answers.lock().ok().and_then(|a| a.get(host).cloned()) {
            return Ok(known);
        }
        let found = self.lookup(host)?;
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert(host.to_owned(), found.clone());
        }
        Ok(found)
    }

    fn lookup(&self, host: &str) -> Result<Option<Credentials>, CredentialError> {
        let keys = config_keys(host);
        for key in &keys {
            if let Some(helper) = self.config.cred_helpers.get(key) {
                return run_helper(helper, key).map(Some);
            }
        }
        for key in &keys {
            if let Some(entry) = self.config.auths.get(key) {
                match decode_entry(entry) {
                    Ok(Some(credentials)) => return Ok(Some(credentials)),
                    Ok(None) => {}
                    Err(reason) => {
                        return Err(CredentialError::BadAuth {
                            path: self.auth_files.get(key).cloned().unwrap_or_default(),
                            key: key.clone(),
                            reason,
                        })
                    }
                }
            }
        }
        if let Some(helper) = &self.config.creds_store {
            // A store answers "not found" for hosts it has nothing for; that is not an error.
            return Ok(run_helper(helper, &keys[0]).ok());
        }
        Ok(None)
    }
}

fn config_keys(host: &str) -> Vec<String> {
    if host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io" {
        vec![
            "https://index.docker.io/v1/".to_owned(),
            "docker.io".to_owned(),
            "index.docker.io".to_owned(),
        ]
    } else {
        vec![
            host.to_owned(),
            format!("https://{host}"),
            format!("http://{host}"),
        ]
    }
}

/// The credentials of an `auths` entry: none when it has none, an error
/// when its `auth` is not base64 of `user:password`.
fn decode_entry(entry: &AuthEntry) -> Result<Option<Credentials>, &'static str> {
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: username.clone(),
            secret: password.clone(),
        }));
    }
    if let Some(token) = &entry.identitytoken {
        return Ok(Some(Credentials {
            username: "<token>".to_owned(),
            secret: token.clone(),
        }));
    }
    let Some(auth) = entry
        .auth
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .map_err(|_| "it is not base64")?;
    let text = String::from_utf8(raw).map_err(|_| "it does not decode to UTF-8 text")?;
    let (username, secret) = text
        .split_once(':')
        .ok_or("it does not decode to user:password (no colon)")?;
    Ok(Some(Credentials {
        username: username.to_owned(),
        secret: secret.to_owned(),
    }))
}

fn run_helper(helper: &str, host: &str) -> Result<Credentials, CredentialError> {
    let fail = |detail: String| CredentialError::Helper {
        helper: helper.to_owned(),
        host: host.to_owned(),
        detail,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| fail(error.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(host.as_bytes())
            .map_err(|error| fail(error.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| fail(error.to_string()))?;
    if !output.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        ));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct HelperReply {
        username: String,
        secret: String,
    }
    let reply: HelperReply =
        serde_json::from_slice(&output.stdout).map_err(|error| fail(error.to_string()))?;
    Ok(Credentials {
        username: reply.username,
        secret: reply.secret,
    })
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`.
    Basic,
    /// `Bearer realm="...",service="...",scope="..."`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// Service name to ask the token for.
        service: Option<String>,
        /// Scope the registry asked for, if it said.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_owned());
        rest = remaining.trim_start_matches([',', ' ']);
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_harbor_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://harbor.local/service/token",service="harbor-registry",scope="repository:library/x:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://harbor.local/service/token".into(),
                service: Some("harbor-registry".into()),
                scope: Some("repository:library/x:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
    }

    #[test]
    fn decodes_auth_entries() {
        let entry = AuthEntry {
            auth: Some(base64::engine::general_purpose::STANDARD.encode("u:p:x")),
            ..AuthEntry::default()
        };
        let c = decode_entry(&entry).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("u", "p:x"));
        assert_eq!(format!("{c:?}"), "Credentials(u:****)");
        for bad in [
            "%%",
            &base64::engine::general_purpose::STANDARD.encode("nocolon"),
        ] {
            let entry = AuthEntry {
                auth: Some(bad.to_owned()),
                ..AuthEntry::default()
            };
            assert!(decode_entry(&entry).is_err(), "{bad}");
        }
        assert!(decode_entry(&AuthEntry::default()).unwrap().is_none());
    }
}
