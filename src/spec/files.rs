//! The on-disk shapes of bundle specs and component manifests, exactly as
//! written by people. Unknown keys are errors.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The `apiVersion` every ferry document carries.
pub const API_VERSION: &str = "ferry/v1";

/// A bundle spec file (`bundles/<name>.yaml`), or an overlay of one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BundleFile {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be `Bundle`.
    pub kind: String,
    /// Bundle name; names the lockfile.
    pub name: String,
    /// Release version of the bundle.
    #[serde(default)]
    pub version: Option<String>,
    /// A base spec this file overlays (path relative to this file).
    #[serde(default)]
    pub base: Option<String>,
    /// Platforms to carry (`linux/amd64`).
    #[serde(default)]
    pub platforms: Option<Vec<String>>,
    /// Directory of component manifests (relative to this file).
    #[serde(default)]
    pub manifests: Option<String>,
    /// Components, or overrides of the base's components.
    #[serde(default)]
    pub components: Vec<ComponentEntry>,
    /// Components of the base that this overlay drops.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Carry ferry's own image (`true`), or with binaries given per
    /// architecture and a pinned CA certificates file.
    #[serde(default)]
    pub ferry_image: Option<FerryImageEntry>,
}

/// `ferryImage:` as written: `true`/`false`, or the details.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FerryImageEntry {
    /// On or off, with the running ferry as the binary of its architecture.
    Enabled(bool),
    /// On, with these inputs.
    Detailed(FerryImageDetails),
}

/// The inputs of ferry's image.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FerryImageDetails {
    /// A ferry binary per architecture (`arm64: ../bin/ferry-arm64`), relative
    /// to this file; an architecture not named takes the running ferry.
    #[serde(default)]
    pub binaries: BTreeMap<String, String>,
    /// The CA certificates file (default: the build host's
    /// `/etc/ssl/certs/ca-certificates.crt`), relative to this file.
    #[serde(default)]
    pub ca_certificates: Option<String>,
}

/// One component named by a bundle spec.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComponentEntry {
    /// Component name: the folder under the manifests directory.
    pub name: String,
    /// Version: the manifest file name (required unless overriding a base component).
    #[serde(default)]
    pub version: Option<String>,
    /// Namespace the component installs into.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Chart values for this component (merged over the base's).
    #[serde(default)]
    pub values: Option<serde_json::Value>,
    /// Extra images a site carries with this component.
    #[serde(default)]
    pub images: Vec<ImageEntry>,
    /// Replaces the known SHA-256 of the component's files, by file name (for
    /// a mirror whose files differ from upstream's, e.g. a test mirror).
    #[serde(default)]
    pub file_sha256: std::collections::BTreeMap<String, Sha256Entry>,
    /// Drops the `@sha256:` pins of the component's images, keeping their
    /// tags (for a mirror that cannot hold upstream's exact manifests).
    #[serde(default)]
    pub unpin_images: bool,
}

/// A component manifest (`vendor-manifests/<name>/<version>.yaml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComponentFile {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be `Component`.
    pub kind: String,
    /// Component name (must match its folder).
    pub name: String,
    /// Upstream version (must match the file name).
    pub version: String,
    /// SPDX licence expression.
    pub license: String,
    /// Upstream project (home page or repository).
    #[serde(default)]
    pub upstream: Option<String>,
    /// The upstream file this manifest was taken from.
    #[serde(default)]
    pub source: Option<String>,
    /// What the component is.
    #[serde(default)]
    pub description: Option<String>,
    /// Components this one needs in the same bundle.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// Images.
    #[serde(default)]
    pub images: Vec<ImageEntry>,
    /// Helm charts.
    #[serde(default)]
    pub charts: Vec<ChartEntry>,
    /// Files (node binaries, tarballs).
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// How the component is installed into a cluster, step by step.
    #[serde(default)]
    pub deploy: Vec<DeployEntry>,
}

/// One `deploy:` step as written: exactly one of `chart`, `manifests` or a
/// `wait` list, with the options that action takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeployEntry {
    /// A display name.
    #[serde(default)]
    pub name: Option<String>,
    /// A chart release: one of the component's chart names.
    #[serde(default)]
    pub chart: Option<String>,
    /// The release name of a chart step.
    #[serde(default)]
    pub release: Option<String>,
    /// The release namespace, or the default namespace of applied manifests.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Values of a chart step, under the component's.
    #[serde(default)]
    pub values: Option<serde_json::Value>,
    /// The subtree of the component's values a chart step takes.
    #[serde(default)]
    pub values_key: Option<String>,
    /// Manifest files to apply: names among the component's files.
    #[serde(default)]
    pub manifests: Option<Vec<String>>,
    /// A Go duration (`10m`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// `true`/`false` on chart and manifest steps; a list of targets makes a wait step.
    #[serde(default)]
    pub wait: Option<WaitEntry>,
}

/// The `wait` key: a flag on chart and manifest steps, or the targets of a wait step.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WaitEntry {
    /// Wait for what the step applied, or not.
    Flag(bool),
    /// `KIND[.group]/[NAMESPACE/]NAME [CONDITION]` texts.
    Targets(Vec<String>),
}

/// An image: a reference, optionally with a local source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageEntry {
    /// The reference the image has (and keeps) in the bundle, with tag and/or digest.
    #[serde(rename = "ref")]
    pub reference: String,
    /// A local OCI image layout to take it from (path relative to the file).
    #[serde(default)]
    pub layout: Option<String>,
    /// A `docker save` / `podman save` archive to take it from (path relative to the file).
    #[serde(default)]
    pub archive: Option<String>,
    /// The image's name inside `layout` (`org.opencontainers.image.ref.name`)
    /// or `archive` (`RepoTags`); default: `ref`.
    #[serde(default)]
    pub source_ref: Option<String>,
}

/// A Helm chart.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartEntry {
    /// Chart name.
    pub name: String,
    /// Chart version (exact).
    pub version: String,
    /// `https://…` chart repository, `oci://host/path` (without the chart
    /// name), or a local repository directory (relative path) with an `index.yaml`.
    pub repo: String,
}

/// A known SHA-256: one for every architecture, or one per architecture.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Sha256Entry {
    /// One hash (the file does not vary by architecture).
    One(String),
    /// Hash per architecture (`amd64: …`).
    PerArch(BTreeMap<String, String>),
}

/// A file to carry: a URL template over `{version}`, `{arch}`, `{os}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileEntry {
    /// File name in the bundle (`kubelet`).
    pub name: String,
    /// Version substituted for `{version}` (default: the component's version).
    #[serde(default)]
    pub version: Option<String>,
    /// URL template, or a path relative to the manifest for a local file.
    pub url: String,
    /// Known SHA-256, checked when locking.
    #[serde(default)]
    pub sha256: Option<Sha256Entry>,
}
