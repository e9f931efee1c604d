//! How a component is installed into a cluster: its `deploy:` steps.
//! (Types only; the manifest parser fills them.)

use std::fmt;

use serde::{Deserialize, Serialize};

/// One step of a component's installation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployStep {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the step does.
    pub action: DeployAction,
}

/// What a deploy step does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum DeployAction {
    /// Install or upgrade a chart release.
    Chart(ChartStep),
    /// Apply plain manifest files.
    Manifests(ManifestStep),
    /// Wait for objects to reach a condition.
    Wait(WaitStep),
}

/// A chart release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartStep {
    /// One of the component's charts.
    pub chart: String,
    /// Release name.
    pub release: String,
    /// Release namespace.
    pub namespace: String,
    /// Step default values, under the component's bundle values.
    pub values: serde_json::Value,
    /// The subtree of the component's bundle values this step takes.
    pub values_key: Option<String>,
    /// Readiness timeout, seconds.
    pub timeout_seconds: u64,
    /// Whether to wait for readiness.
    pub wait: bool,
}

/// Plain manifest files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestStep {
    /// File names of the component.
    pub files: Vec<String>,
    /// Namespace of namespaced objects that name none.
    pub namespace: Option<String>,
    /// Readiness timeout, seconds.
    pub timeout_seconds: u64,
    /// Whether to wait for readiness.
    pub wait: bool,
}

/// Waits for objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitStep {
    /// What to wait for.
    pub targets: Vec<WaitTarget>,
    /// Timeout, seconds.
    pub timeout_seconds: u64,
}

/// An object to wait for: `KIND[.group]/[NAMESPACE/]NAME [CONDITION]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitTarget {
    /// Kind.
    pub kind: String,
    /// API group, `""` for the core group.
    pub group: String,
    /// Namespace, for namespaced kinds.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// A condition type that must be `True`; without one, the kind's readiness rule.
    pub condition: Option<String>,
}

impl fmt::Display for WaitTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        f.write_str("/")?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)?;
        if let Some(condition) = &self.condition {
            write!(f, " {condition}")?;
        }
        Ok(())
    }
}
