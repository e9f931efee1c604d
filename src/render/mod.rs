//! Rendering: charts rendered with the Rust Helm engine (`ferry-helm`), with
//! a site seed that makes Helm's random functions reproducible, and the
//! completeness check that every image a chart will run is carried.
//!
//! **The site seed.** Helm charts generate passwords and certificates with
//! random functions, so `helm template` differs on every run. ferry seeds every
//! random function from a per-site secret plus release, chart and template
//! path: one site renders the same manifests every time, and nobody without
//! the secret can predict them. The secret is `--seed-file`, else
//! `$FERRY_SEED_FILE`, else `$XDG_CONFIG_HOME/ferry/site.seed` (default
//! `~/.config/ferry/site.seed`), created once with 32 random bytes (mode 0600)
//! and kept: back it up with the site's other secrets.

mod seed;

use std::collections::BTreeSet;
use std::path::PathBuf;

pub use self::seed::{
    default_seed_path, format_rfc3339, parse_rfc3339, site_secret, site_seed, SiteSecret,
};

use ferry_helm::{Chart, RenderOptions};

use crate::lock::{Lock, LockedChart};
use crate::oci::Reference;
use crate::spec::Spec;
use crate::store::Store;

/// Rendering errors.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The seed file could not be read or created.
    #[error("site seed {path}")]
    Seed {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No place for a default seed file.
    #[error("no site seed: pass --seed-file or set FERRY_SEED_FILE, XDG_CONFIG_HOME or HOME")]
    NoSeedLocation,
    /// A chart archive is not in the cache.
    #[error("chart {name} {version} is not in the cache (sha256 {sha256})\nhint: run `ferry build` (or `ferry lock`) first")]
    NotCached {
        /// Chart name.
        name: String,
        /// Version.
        version: String,
        /// Archive digest.
        sha256: String,
    },
    /// The Helm engine failed.
    #[error("chart {name} {version}")]
    Helm {
        /// Chart name.
        name: String,
        /// Version.
        version: String,
        /// The cause.
        #[source]
        source: ferry_helm::Error,
    },
}

/// Render settings for one component's chart: the release is the component,
/// its namespace and values apply, random functions draw from `seed`.
pub fn component_options(
    component: &str,
    namespace: Option<&str>,
    values: &serde_json::Value,
    seed: &[u8],
) -> RenderOptions {
    let mut options = RenderOptions {
        release_name: component.to_owned(),
        seed: seed.to_vec(),
        ..RenderOptions::default()
    };
    if let Some(namespace) = namespace {
        options.namespace = namespace.to_owned();
    }
    if !values.is_null() {
        options.values_documents.push(values.to_string());
    }
    options
}

/// [`component_options`] for a component of `spec`.
pub fn options_for(spec: &Spec, component: &str, seed: &[u8]) -> RenderOptions {
    match spec.components.iter().find(|c| c.name == component) {
        Some(c) => component_options(&c.name, c.namespace.as_deref(), &c.values, seed),
        None => component_options(component, None, &serde_json::Value::Null, seed),
    }
}

/// Renders a locked chart from the cache.
pub fn render_locked_chart(
    chart: &LockedChart,
    store: &Store,
    options: &RenderOptions,
) -> Result<ferry_helm::Rendered, RenderError> {
    let bytes = store
        .read_small(&chart.sha256)
        .map_err(|_| RenderError::NotCached {
            name: chart.name.clone(),
            version: chart.version.clone(),
            sha256: chart.sha256.to_string(),
        })?;
    let helm = |source| RenderError::Helm {
        name: chart.name.clone(),
        version: chart.version.clone(),
        source,
    };
    let loaded = Chart::from_archive(&bytes, &format!("{}-{}.tgz", chart.name, chart.version))
        .map_err(helm)?;
    ferry_helm::render(&loaded, options).map_err(helm)
}

/// An image a chart will run that the bundle does not carry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MissingImage {
    /// The component whose chart runs it.
    pub component: String,
    /// The chart.
    pub chart: String,
    /// The image reference as rendered.
    pub image: String,
}

/// Whether a rendered image reference is carried by the lock: the same
/// repository name (last path segment, as registries are often rewritten)
/// and the same tag or digest.
fn carried(image: &str, locked: &[Reference]) -> bool {
    let Ok(wanted) = image.parse::<Reference>() else {
        return false;
    };
    let name = |r: &Reference| r.repository.rsplit('/').next().map(str::to_owned);
    locked.iter().any(|have| {
        if wanted.digest.is_some() && wanted.digest == have.digest {
            return true;
        }
        name(have) == name(&wanted) && wanted.tag.is_some() && wanted.tag == have.tag
    })
}

/// Renders every chart of the lock with its component's values and lists the
/// images they would run that the lock does not carry.
pub fn missing_images(
    lock: &Lock,
    spec: &Spec,
    store: &Store,
    seed: &[u8],
) -> Result<Vec<MissingImage>, RenderError> {
    let locked: Vec<Reference> = lock
        .images
        .iter()
        .filter_map(|i| i.reference.parse().ok())
        .collect();
    let mut missing = BTreeSet::new();
    for chart in &lock.charts {
        let options = options_for(spec, &chart.component, seed);
        let rendered = render_locked_chart(chart, store, &options)?;
        let images = ferry_helm::discover_images(rendered.helm_output()).map_err(|source| {
            RenderError::Helm {
                name: chart.name.clone(),
                version: chart.version.clone(),
                source,
            }
        })?;
        for image in images {
            if !carried(&image, &locked) {
                missing.insert((
                    chart.component.clone(),
                    format!("{} {}", chart.name, chart.version),
                    image,
                ));
            }
        }
    }
    Ok(missing
        .into_iter()
        .map(|(component, chart, image)| MissingImage {
            component,
            chart,
            image,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_matches_rewritten_registries() {
        let locked: Vec<Reference> = vec!["registry.k8s.io/kube-proxy:v1.32.5".parse().unwrap()];
        assert!(carried(
            "registry.k-paas.org/k8s/kube-proxy:v1.32.5",
            &locked
        ));
        assert!(!carried("registry.k8s.io/kube-proxy:v1.31.0", &locked));
        assert!(!carried("registry.k8s.io/pause:3.10", &locked));
    }
}

/// One image reference rewritten by [`rewrite_images`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rewrite {
    /// As the chart rendered it.
    pub from: String,
    /// As the cluster will pull it: the target with the bundle's digest.
    pub to: String,
}

/// Rewrites the image references of rendered manifests through an image map
/// (original → target with digest, as `ferry push` writes it): every
/// `image:` value (and image list item) that names a mapped image becomes
/// `target@digest`. Returns the new text, what was rewritten and the images
/// the map does not know.
pub fn rewrite_images(
    rendered: &str,
    map: &[crate::push::Mapped],
) -> (String, Vec<Rewrite>, Vec<String>) {
    let targets: Vec<(Reference, String)> = map
        .iter()
        .filter_map(|m| {
            let original: Reference = m.original.parse().ok()?;
            let target = m
                .target
                .split_once('@')
                .map_or(m.target.as_str(), |(t, _)| t);
            Some((original, format!("{target}@{}", m.digest)))
        })
        .collect();
    let lookup = |image: &str| -> Option<String> {
        let wanted: Reference = image.parse().ok()?;
        targets
            .iter()
            .find(|(original, _)| {
                original.registry == wanted.registry
                    && original.repository == wanted.repository
                    && (wanted.tag.is_none() || original.tag == wanted.tag)
                    && (wanted.digest.is_none() || original.digest == wanted.digest)
            })
            .or_else(|| {
                let short: Vec<&(Reference, String)> = targets
                    .iter()
                    .filter(|(original, _)| carried(image, std::slice::from_ref(original)))
                    .collect();
                // A rewritten registry matches by name and tag only when that is unambiguous.
                (short.len() == 1).then(|| short[0])
            })
            .map(|(_, target)| target.clone())
    };
    let mut rewrites: Vec<Rewrite> = Vec::new();
    let mut unmapped: Vec<String> = Vec::new();
    let mut out = String::with_capacity(rendered.len());
    for line in rendered.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let trimmed = body.trim_start();
        let indent = &body[..body.len() - trimmed.len()];
        let (key, value) = if let Some(rest) = trimmed.strip_prefix("image:") {
            ("image:", rest)
        } else if let Some(rest) = trimmed.strip_prefix("- image:") {
            ("- image:", rest)
        } else {
            out.push_str(line);
            continue;
        };
        let raw = value.trim();
        let unquoted = raw.trim_matches(|c| c == '"' || c == '\'');
        if unquoted.is_empty() || unquoted.contains(['{', '}', ' ']) {
            out.push_str(line);
            continue;
        }
        match lookup(unquoted) {
            Some(target) => {
                if !rewrites.iter().any(|r| r.from == unquoted) {
                    rewrites.push(Rewrite {
                        from: unquoted.to_owned(),
                        to: target.clone(),
                    });
                }
                out.push_str(&format!("{indent}{key} \"{target}\"{ending}"));
            }
            None => {
                if !unmapped.iter().any(|u| u == unquoted) {
                    unmapped.push(unquoted.to_owned());
                }
                out.push_str(line);
            }
        }
    }
    (out, rewrites, unmapped)
}

#[cfg(test)]
mod rewrite_tests {
    use super::*;

    #[test]
    fn rewrites_image_fields_through_the_map() {
        let digest = crate::oci::Digest::of_bytes(b"x");
        let map = vec![crate::push::Mapped {
            original: "docker.io/library/nginx:1.27".into(),
            target: "harbor.example/platform/library/nginx:1.27".into(),
            digest: digest.clone(),
            kind: "image".into(),
        }];
        let text = "spec:\n  containers:\n    - image: nginx:1.27\n      name: a\n    - name: b\n      image: \"quay.io/other:1\"\n";
        let (out, rewrites, unmapped) = rewrite_images(text, &map);
        assert!(
            out.contains(&format!(
                "- image: \"harbor.example/platform/library/nginx:1.27@{digest}\"\n"
            )),
            "{out}"
        );
        assert!(out.contains("image: \"quay.io/other:1\""));
        assert_eq!(rewrites.len(), 1);
        assert_eq!(unmapped, vec!["quay.io/other:1".to_owned()]);
    }
}
