//! The open-source list a platform release publishes: one row per
//! component (name, version, upstream project, licence), sorted by name.

use serde::Serialize;

use super::Material;

/// One component of the licence list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LicenseRow {
    /// Component name.
    pub component: String,
    /// Component version.
    pub version: String,
    /// Upstream project (from the component manifest), when known.
    pub upstream: Option<String>,
    /// SPDX licence expression.
    pub license: String,
}

/// The licence list of a spec, lock or bundle. A lock's components carry the
/// licence; the upstream comes from the spec when one is known.
pub fn rows(material: &Material) -> Vec<LicenseRow> {
    let upstream_of = |name: &str| {
        material
            .spec
            .as_ref()
            .and_then(|s| s.component(name))
            .and_then(|c| c.upstream.clone())
    };
    let mut rows: Vec<LicenseRow> = match (&material.lock, &material.spec) {
        (Some(lock), _) => lock
            .components
            .iter()
            .map(|c| LicenseRow {
                component: c.name.clone(),
                version: c.version.clone(),
                upstream: upstream_of(&c.name),
                license: c.license.clone(),
            })
            .collect(),
        (None, Some(spec)) => spec
            .components
            .iter()
            .map(|c| LicenseRow {
                component: c.name.clone(),
                version: c.version.clone(),
                upstream: c.upstream.clone(),
                license: c.license.clone(),
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    rows.sort();
    rows
}

const HEADERS: [&str; 4] = ["COMPONENT", "VERSION", "LICENSE", "UPSTREAM"];

fn cells(row: &LicenseRow) -> [&str; 4] {
    [
        &row.component,
        &row.version,
        &row.license,
        row.upstream.as_deref().unwrap_or("-"),
    ]
}

/// A plain-text table with aligned columns.
pub fn table(rows: &[LicenseRow]) -> String {
    let mut widths = HEADERS.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(cells(row)) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut out = line(HEADERS);
    for row in rows {
        out.push_str(&line(cells(row)));
    }
    out
}

/// A Markdown table (pipes in cells escaped).
pub fn markdown(rows: &[LicenseRow]) -> String {
    let escape = |cell: &str| cell.replace('|', "\\|");
    let mut out = String::from("| Component | Version | License | Upstream |\n|---|---|---|---|\n");
    for row in rows {
        let [component, version, license, upstream] = cells(row).map(escape);
        out.push_str(&format!(
            "| {component} | {version} | {license} | {upstream} |\n"
        ));
    }
    out
}
