//! Helm chart archives and a classic (HTTP) Helm repository `index.yaml`.

use super::images::{deterministic_tar, gzip};
use super::sha256_hex;
use std::path::{Path, PathBuf};

/// Fixed timestamp used for `created`/`generated` in `index.yaml`.
pub const CHART_CREATED: &str = "2024-01-01T00:00:00Z";

/// One chart version for [`write_chart_index`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartEntry {
    /// Chart name.
    pub name: String,
    /// Chart version.
    pub version: String,
    /// Archive file name relative to the repository root (`<name>-<version>.tgz`).
    pub file_name: String,
    /// Lowercase hex sha256 of the archive.
    pub sha256: String,
    /// Full path of the written archive.
    pub path: PathBuf,
}

impl ChartEntry {
    /// Builds an entry from the `(path, sha256)` returned by [`write_chart_tgz`].
    pub fn new(name: &str, version: &str, written: &(PathBuf, String)) -> ChartEntry {
        ChartEntry {
            name: name.to_string(),
            version: version.to_string(),
            file_name: written
                .0
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: written.1.clone(),
            path: written.0.clone(),
        }
    }
}

/// The `Chart.yaml` text the harness writes for a chart.
pub fn chart_yaml(name: &str, version: &str) -> String {
    format!(
        "apiVersion: v2\nname: {name}\ndescription: ferry test chart {name}\ntype: application\nversion: {version}\nappVersion: \"{version}\"\n"
    )
}

/// The chart archive bytes (deterministic): `<name>/Chart.yaml`, `values.yaml`, `templates/…`.
pub fn chart_tgz_bytes(
    name: &str,
    version: &str,
    templates: &[(&str, &str)],
    values_yaml: &str,
) -> Vec<u8> {
    let mut files = vec![
        (
            format!("{name}/Chart.yaml"),
            chart_yaml(name, version).into_bytes(),
        ),
        (
            format!("{name}/values.yaml"),
            values_yaml.as_bytes().to_vec(),
        ),
    ];
    for (path, content) in templates {
        let rel = path.trim_start_matches('/');
        let rel = rel.strip_prefix("templates/").unwrap_or(rel);
        files.push((
            format!("{name}/templates/{rel}"),
            content.as_bytes().to_vec(),
        ));
    }
    gzip(&deterministic_tar(&files))
}

/// Writes `<dir>/<name>-<version>.tgz`; returns its path and lowercase hex sha256.
///
/// Template paths are relative to `templates/` (a leading `templates/` is accepted too).
pub fn write_chart_tgz(
    dir: &Path,
    name: &str,
    version: &str,
    templates: &[(&str, &str)],
    values_yaml: &str,
) -> (PathBuf, String) {
    std::fs::create_dir_all(dir).expect("create chart dir");
    let bytes = chart_tgz_bytes(name, version, templates, values_yaml);
    let path = dir.join(format!("{name}-{version}.tgz"));
    std::fs::write(&path, &bytes).expect("write chart tgz");
    (path, sha256_hex(&bytes))
}

/// [`write_chart_tgz`] returning a ready [`ChartEntry`].
pub fn write_chart(
    dir: &Path,
    name: &str,
    version: &str,
    templates: &[(&str, &str)],
    values_yaml: &str,
) -> ChartEntry {
    let written = write_chart_tgz(dir, name, version, templates, values_yaml);
    ChartEntry::new(name, version, &written)
}

/// The `index.yaml` text for `charts`; `base_url` "" gives relative URLs (just the file name).
pub fn chart_index_yaml(base_url: &str, charts: &[ChartEntry]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for c in charts {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    let mut y = String::from("apiVersion: v1\nentries:\n");
    for name in names {
        y.push_str(&format!("  {name}:\n"));
        for c in charts.iter().filter(|c| c.name == name) {
            let url = if base_url.is_empty() {
                c.file_name.clone()
            } else {
                format!("{}/{}", base_url.trim_end_matches('/'), c.file_name)
            };
            y.push_str(&format!(
                "  - apiVersion: v2\n    appVersion: \"{v}\"\n    created: \"{CHART_CREATED}\"\n    description: ferry test chart {n}\n    digest: {d}\n    name: {n}\n    type: application\n    urls:\n    - {url}\n    version: {v}\n",
                n = c.name,
                v = c.version,
                d = c.sha256,
            ));
        }
    }
    y.push_str(&format!("generated: \"{CHART_CREATED}\"\n"));
    y
}

/// Writes `<dir>/index.yaml` (Helm repo index, apiVersion v1); returns its path.
pub fn write_chart_index(dir: &Path, base_url: &str, charts: &[ChartEntry]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create repo dir");
    let path = dir.join("index.yaml");
    std::fs::write(&path, chart_index_yaml(base_url, charts)).expect("write index.yaml");
    path
}
