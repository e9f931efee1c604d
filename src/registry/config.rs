//! Where registries are reached: mirrors, plain-HTTP hosts, CA certificates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;

/// A mirror for one upstream registry: requests for `docker.io/library/nginx`
/// go to `host` under `prefix` (`127.0.0.1:5000/docker.io/library/nginx`),
/// while locks and bundles keep the original reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port]` of the mirror.
    pub host: String,
    /// Repository prefix inside the mirror, without slashes at either end (may be empty).
    pub prefix: String,
}

/// Registry access settings shared by a run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistryConfig {
    /// Upstream registry host to mirror location (`HOST=MIRROR[/PREFIX]`).
    #[serde(skip)]
    pub mirrors: BTreeMap<String, Mirror>,
    /// Hosts that may be reached over plain HTTP (loopback always may).
    pub insecure: BTreeSet<String>,
    /// Extra CA certificates (PEM files) to trust.
    pub ca_certs: Vec<PathBuf>,
    /// How many times a transient failure is retried.
    pub retries: u32,
    /// URL prefixes served by a mirror (`https://dl.k8s.io` → `http://10.0.0.5/dl.k8s.io`):
    /// chart repositories and files are fetched there, locks keep the original URL.
    #[serde(skip)]
    pub url_mirrors: Vec<(String, String)>,
}

/// Why a mirror or config could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid registry setting `{value}`: {reason}")]
pub struct ConfigError {
    value: String,
    reason: String,
}

impl RegistryConfig {
    /// Default settings: 4 retries, no mirrors.
    pub fn new() -> Self {
        Self {
            retries: 4,
            ..Self::default()
        }
    }

    /// Adds a mirror: `HOST=[http://|https://]MIRROR[/PREFIX]` for a registry,
    /// or `https://UPSTREAM[/PATH]=http://MIRROR[/PATH]` for downloads.
    pub fn add_mirror(&mut self, spec: &str) -> Result<(), ConfigError> {
        let fail = |reason: &str| ConfigError {
            value: spec.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some((upstream, target)) = spec.split_once('=').filter(|(u, _)| u.contains("://")) {
            if !target.starts_with("http://") && !target.starts_with("https://") {
                return Err(fail("a download mirror must be an http:// or https:// URL"));
            }
            self.url_mirrors.push((
                upstream.trim_end_matches('/').to_owned(),
                target.trim_end_matches('/').to_owned(),
            ));
            // Longest prefix first, so the most specific mirror wins.
            self.url_mirrors
                .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
            return Ok(());
        }
        let (upstream, target) = spec
            .split_once('=')
            .ok_or_else(|| fail("expected HOST=MIRROR, e.g. docker.io=127.0.0.1:5000/docker.io"))?;
        let (plain, target) = if let Some(rest) = target.strip_prefix("http://") {
            (true, rest)
        } else {
            (false, target.strip_prefix("https://").unwrap_or(target))
        };
        let target = target.trim_end_matches('/');
        let (host, prefix) = target.split_once('/').unwrap_or((target, ""));
        if upstream.is_empty() || host.is_empty() {
            return Err(fail(
                "both the upstream host and the mirror host are needed",
            ));
        }
        if plain {
            self.insecure.insert(host.to_owned());
        }
        self.mirrors.insert(
            upstream.to_owned(),
            Mirror {
                host: host.to_owned(),
                prefix: prefix.to_owned(),
            },
        );
        Ok(())
    }

    /// The URL a download is fetched from: through the longest matching mirror, if any.
    pub fn mirrored_url(&self, url: &str) -> String {
        for (upstream, target) in &self.url_mirrors {
            if let Some(rest) = url.strip_prefix(upstream.as_str()) {
                if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
                    return format!("{target}{rest}");
                }
            }
        }
        url.to_owned()
    }

    /// The host and repository path a request for `registry/repository` goes to.
    pub fn endpoint(&self, registry: &str, repository: &str) -> (String, String) {
        match self.mirrors.get(registry) {
            Some(mirror) if mirror.prefix.is_empty() => {
                (mirror.host.clone(), repository.to_owned())
            }
            Some(mirror) => (
                mirror.host.clone(),
                format!("{}/{repository}", mirror.prefix),
            ),
            None if registry == crate::oci::DOCKER_HUB => {
                ("registry-1.docker.io".to_owned(), repository.to_owned())
            }
            None => (registry.to_owned(), repository.to_owned()),
        }
    }

    /// Whether plain HTTP may be tried for a host (listed, or loopback).
    pub fn allows_plain_http(&self, host: &str) -> bool {
        if self.insecure.contains(host) {
            return true;
        }
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        name == "localhost"
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_rewrite_endpoints() {
        let mut config = RegistryConfig::new();
        config
            .add_mirror("docker.io=http://10.0.0.1:5000/docker.io")
            .unwrap();
        assert_eq!(
            config.endpoint("docker.io", "library/nginx"),
            ("10.0.0.1:5000".into(), "docker.io/library/nginx".into())
        );
        assert!(config.allows_plain_http("10.0.0.1:5000"));
        assert!(config.allows_plain_http("127.0.0.1:9"));
        assert!(!config.allows_plain_http("quay.io"));
        assert_eq!(
            config.endpoint("quay.io", "a/b"),
            ("quay.io".into(), "a/b".into())
        );
        assert!(config.add_mirror("nonsense").is_err());
        config
            .add_mirror("https://dl.k8s.io=http://127.0.0.1:8080/dl.k8s.io")
            .unwrap();
        assert_eq!(
            config.mirrored_url("https://dl.k8s.io/release/v1/kubelet"),
            "http://127.0.0.1:8080/dl.k8s.io/release/v1/kubelet"
        );
        assert_eq!(
            config.mirrored_url("https://dl.k8s.io.evil/x"),
            "https://dl.k8s.io.evil/x"
        );
        assert!(config.add_mirror("https://x=ftp://y").is_err());
    }
}
