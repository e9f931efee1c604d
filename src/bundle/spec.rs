//! The composed spec a bundle embeds, read back as types.
//!
//! `ferry build` stores the composed spec (`Spec::canonical_json`) in the
//! bundle's metadata manifest. Render, deploy and the audits read it through
//! [`BundleSpec`]: components in dependency order, each with its namespace,
//! values, charts, files, images and deploy steps.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::spec::DeployStep;

/// The composed spec embedded in a bundle.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BundleSpec {
    /// Bundle name.
    pub name: String,
    /// Bundle release version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Components, in dependency order (a component after everything it depends on; ties by name).
    #[serde(default)]
    pub components: Vec<BundleComponent>,
}

/// One component of a [`BundleSpec`].
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BundleComponent {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SPDX licence expression.
    #[serde(default)]
    pub license: String,
    /// Upstream project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Upstream source file of the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Namespace the bundle spec gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Components it depends on.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// Chart values of the bundle (component values, then site overlays).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub values: serde_json::Value,
    /// Images it carries.
    #[serde(default)]
    pub images: Vec<BundleImage>,
    /// Charts it carries.
    #[serde(default)]
    pub charts: Vec<BundleChart>,
    /// Files it carries.
    #[serde(default)]
    pub files: Vec<BundleFile>,
    /// How it is installed into a cluster; empty when the cluster does not install it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploy: Vec<DeployStep>,
}

/// An image of a [`BundleComponent`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct BundleImage {
    /// The reference as the spec names it.
    pub reference: String,
}

/// A chart of a [`BundleComponent`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct BundleChart {
    /// Chart name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// A file of a [`BundleComponent`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct BundleFile {
    /// File name.
    pub name: String,
    /// Version.
    #[serde(default)]
    pub version: String,
    /// Platform, when the file is for one.
    #[serde(default)]
    pub platform: Option<String>,
}

/// Why an embedded spec cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleSpecError {
    /// It is not the JSON ferry writes.
    #[error("the embedded spec is not a composed ferry spec: {0}")]
    Parse(#[from] serde_json::Error),
    /// The components depend on each other in a circle.
    #[error("the embedded spec's components depend on each other in a circle: {0}")]
    Cycle(String),
}

impl BundleSpec {
    /// Reads a composed spec's canonical JSON and orders its components.
    pub fn from_json(bytes: &[u8]) -> Result<Self, BundleSpecError> {
        let mut spec: Self = serde_json::from_slice(bytes)?;
        spec.components = dependency_order(std::mem::take(&mut spec.components))?;
        Ok(spec)
    }

    /// A component by name.
    pub fn component(&self, name: &str) -> Option<&BundleComponent> {
        self.components.iter().find(|c| c.name == name)
    }
}

impl BundleComponent {
    /// The namespace its objects go to when a step names none.
    pub fn namespace_or_default(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// Orders components so that each comes after the components it depends on
/// (dependencies the bundle does not carry are ignored); among components
/// ready at the same time, by name.
fn dependency_order(
    components: Vec<BundleComponent>,
) -> Result<Vec<BundleComponent>, BundleSpecError> {
    let names: BTreeSet<String> = components.iter().map(|c| c.name.clone()).collect();
    let mut pending: BTreeMap<String, BundleComponent> = components
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .values()
            .find(|c| {
                c.dependencies
                    .iter()
                    .all(|d| done.contains(d) || !names.contains(d) || *d == c.name)
            })
            .map(|c| c.name.clone());
        let Some(name) = ready else {
            return Err(BundleSpecError::Cycle(
                pending.keys().cloned().collect::<Vec<_>>().join(", "),
            ));
        };
        if let Some(component) = pending.remove(&name) {
            done.insert(name);
            ordered.push(component);
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_components_after_their_dependencies() {
        let json = br#"{"name":"p","components":[
            {"name":"a-portal","version":"1","dependencies":["mariadb","keycloak"]},
            {"name":"keycloak","version":"1","dependencies":["mariadb","absent"]},
            {"name":"mariadb","version":"1","namespace":"db","values":{"x":1},
             "images":[{"reference":"docker.io/library/mariadb:11","source":{"kind":"registry"}}],
             "charts":[{"name":"mariadb","version":"1.0.0","repo":{"kind":"http","location":"https://x"}}]}
        ]}"#;
        let spec = BundleSpec::from_json(json).unwrap();
        let order: Vec<&str> = spec.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, ["mariadb", "keycloak", "a-portal"]);
        let db = spec.component("mariadb").unwrap();
        assert_eq!(db.namespace_or_default(), "db");
        assert_eq!(db.images[0].reference, "docker.io/library/mariadb:11");
        assert_eq!(db.charts[0].name, "mariadb");
        assert_eq!(
            spec.component("keycloak").unwrap().namespace_or_default(),
            "default"
        );
    }

    #[test]
    fn a_dependency_circle_is_named() {
        let json = br#"{"name":"p","components":[
            {"name":"a","version":"1","dependencies":["b"]},
            {"name":"b","version":"1","dependencies":["a"]}]}"#;
        let err = BundleSpec::from_json(json).unwrap_err().to_string();
        assert!(err.contains("circle: a, b"), "{err}");
    }
}
