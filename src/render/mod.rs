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

mod bundle;
mod seed;

use std::collections::BTreeSet;
use std::path::PathBuf;

pub use self::bundle::{
    component_releases, component_values, merge, release_of_step, render_bundle, render_release,
    resolve_placeholders, ReleasePlan, RenderSettings, RenderedRelease,
};
pub use self::seed::{default_seed_path, site_secret, site_seed, SiteSecret};

use ferry_helm::{Chart, RenderOptions};

use crate::image_map::{ImageMap, MapEntry};
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
    /// A deploy step names a chart its component does not carry.
    #[error("component {component} has no chart `{chart}` in the bundle (it carries: {})", if carried.is_empty() { "none".to_owned() } else { carried.join(", ") })]
    NoSuchChart {
        /// The component.
        component: String,
        /// The chart asked for.
        chart: String,
        /// The charts it carries.
        carried: Vec<String>,
    },
    /// The bundle could not be read.
    #[error("{0}")]
    Bundle(String),
    /// Values name site variables nobody gave.
    #[error("{context}: site variables not given:{}\nhint: pass --var NAME=VALUE (or a --values file) for each", missing.iter().map(|m| format!("\n  - {m}")).collect::<String>())]
    UnresolvedVariables {
        /// Where (component, step).
        context: String,
        /// Each placeholder and its values path.
        missing: Vec<String>,
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
    locked.iter().any(|have| {
        (wanted.digest.is_some() && wanted.digest == have.digest)
            || crate::image_map::same_name_and_tag(&wanted, have)
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
pub fn rewrite_images(rendered: &str, map: &ImageMap) -> (String, Vec<Rewrite>, Vec<String>) {
    let lookup = |image: &str| map.resolve(image).entry().map(MapEntry::pinned_target);
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
        let map = ImageMap::new(vec![MapEntry {
            original: "docker.io/library/nginx:1.27".into(),
            target: "harbor.example/platform/library/nginx:1.27".into(),
            digest: digest.clone(),
            kind: crate::image_map::ArtifactKind::Image,
        }]);
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
