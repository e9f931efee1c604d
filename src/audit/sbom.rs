//! The CycloneDX 1.5 JSON SBOM of a lock.
//!
//! Derived from the lock (and the composed spec, for upstream projects and
//! component dependencies) alone: no timestamps, a serial number derived from
//! the lock's text, components sorted by `bom-ref`. The same lock therefore
//! always gives the same bytes, which keeps bundles reproducible.
//!
//! Every image is a `container` component (purl `pkg:oci/…`, SHA-256 of its
//! manifest or index), every chart an `application` (`pkg:helm/…`, SHA-256 of
//! the archive), every file a `file` (`pkg:generic/…`, SHA-256 of the content);
//! each carries its ferry component's licence and a `ferry:component`
//! property. The ferry components themselves are `application` components,
//! and the bundle is `metadata.component`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::AuditError;
use crate::bundle::BundleSpec;
use crate::lock::{Lock, LockedChart, LockedFile, LockedImage};
use crate::oci::{Digest, Reference};

/// The CycloneDX specification version written.
pub const SPEC_VERSION: &str = "1.5";

/// SPDX licence identifiers written as `license.id` (anything else becomes an
/// `expression` or a `license.name`, which the schema accepts unchecked).
const KNOWN_SPDX_IDS: &[&str] = &[
    "0BSD",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-2.0",
    "Artistic-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSL-1.0",
    "BUSL-1.1",
    "CC0-1.0",
    "CC-BY-4.0",
    "CDDL-1.0",
    "EPL-1.0",
    "EPL-2.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "ISC",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MIT-0",
    "MPL-2.0",
    "PostgreSQL",
    "Python-2.0",
    "Unlicense",
    "Zlib",
];

/// The SBOM of `lock`, as a JSON value.
pub fn generate(lock: &Lock, spec: Option<&BundleSpec>) -> Value {
    let licenses: BTreeMap<&str, &str> = lock
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.license.as_str()))
        .collect();
    let license_of = |component: &str| licenses.get(component).copied().unwrap_or_default();
    let mut components: Vec<(String, Value)> = Vec::new();
    let mut depends: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let bundle_ref = format!("bundle/{}", lock.bundle);
    for component in &lock.components {
        let bom_ref = component_ref(&component.name);
        depends
            .entry(bundle_ref.clone())
            .or_default()
            .push(bom_ref.clone());
        let mut value = json!({
            "type": "application",
            "bom-ref": bom_ref,
            "name": component.name,
            "version": component.version,
        });
        insert_licenses(&mut value, &component.license);
        let mut properties = vec![
            property("ferry:kind", "component"),
            property("ferry:fingerprint", &component.fingerprint.to_string()),
        ];
        if let Some(spec_component) = spec.and_then(|s| s.component(&component.name)) {
            if let Some(upstream) = &spec_component.upstream {
                properties.push(property("ferry:upstream", upstream));
                if is_url(upstream) {
                    value["externalReferences"] = json!([{"type": "website", "url": upstream}]);
                }
            }
            for dependency in &spec_component.dependencies {
                depends
                    .entry(bom_ref.clone())
                    .or_default()
                    .push(component_ref(dependency));
            }
        }
        value["properties"] = Value::Array(properties);
        components.push((bom_ref.clone(), value));
    }
    // ferry's own image (in a bundle's lock) is listed like any image, with
    // the SHA-256 of each binary in it; it belongs to no component.
    for image in &lock.carried_images() {
        let (bom_ref, mut value) = image_component(image, license_of(&image.component));
        if lock.components.iter().any(|c| c.name == image.component) {
            depends
                .entry(component_ref(&image.component))
                .or_default()
                .push(bom_ref.clone());
        } else if let Some(ferry) = &lock.ferry_image {
            let properties: Vec<Value> = ferry
                .binaries
                .iter()
                .filter_map(|b| {
                    Some(serde_json::json!({
                        "name": format!("ferry:binary-sha256:{}", b.platform),
                        "value": b.sha256.as_ref()?.to_string(),
                    }))
                })
                .collect();
            value["properties"] = Value::Array(properties);
        }
        components.push((bom_ref, value));
    }
    for chart in &lock.charts {
        let (bom_ref, value) = chart_component(chart, license_of(&chart.component));
        depends
            .entry(component_ref(&chart.component))
            .or_default()
            .push(bom_ref.clone());
        components.push((bom_ref, value));
    }
    for file in &lock.files {
        let (bom_ref, value) = file_component(file, license_of(&file.component));
        depends
            .entry(component_ref(&file.component))
            .or_default()
            .push(bom_ref.clone());
        components.push((bom_ref, value));
    }
    components.sort_by(|a, b| a.0.cmp(&b.0));
    components.dedup_by(|a, b| a.0 == b.0);
    let known: std::collections::BTreeSet<&str> =
        components.iter().map(|(r, _)| r.as_str()).collect();
    let dependencies: Vec<Value> = depends
        .iter()
        .map(|(from, to)| {
            let mut to: Vec<&String> = to.iter().filter(|t| known.contains(t.as_str())).collect();
            to.sort();
            to.dedup();
            json!({"ref": from, "dependsOn": to})
        })
        .collect();

    let mut bundle = json!({
        "type": "platform",
        "bom-ref": bundle_ref,
        "name": lock.bundle,
    });
    if let Some(version) = &lock.bundle_version {
        bundle["version"] = json!(version);
    }
    let mut bundle_properties = vec![property(
        "ferry:spec-fingerprint",
        &lock.spec_fingerprint.to_string(),
    )];
    bundle_properties.extend(lock.platforms.iter().map(|p| property("ferry:platform", p)));
    bundle["properties"] = Value::Array(bundle_properties);

    json!({
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial_number(lock),
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "ferry"}]},
            "component": bundle,
        },
        "components": components.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "dependencies": dependencies,
    })
}

/// The SBOM of `lock` as the bytes ferry writes (pretty JSON and a newline).
pub fn to_bytes(lock: &Lock, spec: Option<&BundleSpec>) -> Vec<u8> {
    // Serialising a JSON value cannot fail.
    let mut bytes = serde_json::to_vec_pretty(&generate(lock, spec)).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// [`to_bytes`] with the spec given as its canonical JSON (as `build` has it).
pub fn to_bytes_with_spec_json(lock: &Lock, spec_json: &[u8]) -> Result<Vec<u8>, AuditError> {
    let spec = BundleSpec::from_json(spec_json).map_err(|e| AuditError::Input {
        path: "<composed spec>".into(),
        detail: format!("not a composed spec: {e}"),
    })?;
    Ok(to_bytes(lock, Some(&spec)))
}

/// `urn:uuid:` of the lock text's SHA-256, shaped as a version-5 UUID.
fn serial_number(lock: &Lock) -> String {
    let digest = Digest::of_bytes(lock.to_text().as_bytes());
    let hex = digest.hex();
    // 8-4-4-4-12; the version nibble is 5 and the variant bits are 10.
    let variant = (u8::from_str_radix(&hex[16..17], 16).unwrap_or(0) & 0x3) | 0x8;
    format!(
        "urn:uuid:{}-{}-5{}-{:x}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        variant,
        &hex[17..20],
        &hex[20..32]
    )
}

fn component_ref(name: &str) -> String {
    format!("component/{name}")
}

fn property(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn sha256(digest: &Digest) -> Value {
    json!([{"alg": "SHA-256", "content": digest.hex()}])
}

fn is_url(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && !text.chars().any(|c| c.is_whitespace())
}

/// The CycloneDX `licenses` of an SPDX expression.
fn insert_licenses(value: &mut Value, license: &str) {
    let license = license.trim();
    if license.is_empty() || license == "NOASSERTION" {
        return;
    }
    let entry = if KNOWN_SPDX_IDS.contains(&license) {
        json!({"license": {"id": license}})
    } else if license
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | ':' | '(' | ')' | ' '))
    {
        json!({"expression": license})
    } else {
        json!({"license": {"name": license}})
    };
    value["licenses"] = json!([entry]);
}

/// Percent-encodes a purl segment or qualifier value (`/` and `:` kept when `path`).
fn encode(text: &str, path: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'.' | b'-' | b'_' | b'~')
            || (path && matches!(byte, b'/' | b':'));
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn image_component(image: &LockedImage, license: &str) -> (String, Value) {
    let bom_ref = format!("image/{}/{}", image.component, image.reference);
    let parsed: Option<Reference> = image.reference.parse().ok();
    let (name, version, purl) = match &parsed {
        Some(reference) => {
            let last = reference
                .repository
                .rsplit('/')
                .next()
                .unwrap_or(&reference.repository);
            let mut purl = format!(
                "pkg:oci/{}@sha256%3A{}?repository_url={}",
                encode(&last.to_ascii_lowercase(), false),
                image.digest.hex(),
                encode(&reference.name(), true)
            );
            if let Some(tag) = &reference.tag {
                purl.push_str(&format!("&tag={}", encode(tag, false)));
            }
            let version = reference
                .tag
                .clone()
                .unwrap_or_else(|| image.digest.to_string());
            (reference.name(), version, purl)
        }
        None => (
            image.reference.clone(),
            image.digest.to_string(),
            format!("pkg:oci/image@sha256%3A{}", image.digest.hex()),
        ),
    };
    let mut value = json!({
        "type": "container",
        "bom-ref": bom_ref,
        "name": name,
        "version": version,
        "hashes": sha256(&image.digest),
        "purl": purl,
    });
    insert_licenses(&mut value, license);
    let mut properties = vec![
        property("ferry:component", &image.component),
        property("ferry:reference", &image.reference),
        property("ferry:media-type", &image.media_type),
    ];
    properties.extend(
        image
            .platforms
            .iter()
            .map(|p| property("ferry:platform", &format!("{} {}", p.platform, p.digest))),
    );
    if let Some(source) = &image.source {
        properties.push(property("ferry:source", source));
    }
    value["properties"] = Value::Array(properties);
    (bom_ref, value)
}

fn chart_component(chart: &LockedChart, license: &str) -> (String, Value) {
    let bom_ref = format!("chart/{}/{}", chart.component, chart.name);
    let mut purl = format!(
        "pkg:helm/{}@{}",
        encode(&chart.name.to_ascii_lowercase(), false),
        encode(&chart.version, false)
    );
    if chart.repo.contains("://") {
        purl.push_str(&format!("?repository_url={}", encode(&chart.repo, true)));
    }
    let mut value = json!({
        "type": "application",
        "bom-ref": bom_ref,
        "name": chart.name,
        "version": chart.version,
        "hashes": sha256(&chart.sha256),
        "purl": purl,
    });
    insert_licenses(&mut value, license);
    let mut properties = vec![
        property("ferry:component", &chart.component),
        property("ferry:kind", "helm-chart"),
        property("ferry:repository", &chart.repo),
        property("ferry:url", &chart.url),
    ];
    if let Some(digest) = &chart.oci_digest {
        properties.push(property("ferry:oci-digest", &digest.to_string()));
    }
    value["properties"] = Value::Array(properties);
    (bom_ref, value)
}

fn file_component(file: &LockedFile, license: &str) -> (String, Value) {
    let platform = file.platform.as_deref().unwrap_or("any");
    let bom_ref = format!("file/{}/{}/{platform}", file.component, file.name);
    let mut purl = format!(
        "pkg:generic/{}@{}",
        encode(&file.name, false),
        encode(&file.version, false)
    );
    if is_url(&file.url) {
        purl.push_str(&format!("?download_url={}", encode(&file.url, true)));
    }
    let mut value = json!({
        "type": "file",
        "bom-ref": bom_ref,
        "name": file.name,
        "version": file.version,
        "hashes": sha256(&file.sha256),
        "purl": purl,
    });
    insert_licenses(&mut value, license);
    let mut properties = vec![
        property("ferry:component", &file.component),
        property("ferry:url", &file.url),
        property("ferry:size", &file.size.to_string()),
    ];
    if let Some(platform) = &file.platform {
        properties.push(property("ferry:platform", platform));
    }
    value["properties"] = Value::Array(properties);
    (bom_ref, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_are_version_5_uuids_of_the_lock() {
        let text = "# header\nversion = 1\nbundle = \"b\"\nspec-fingerprint = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\nplatforms = [\"linux/amd64\"]\n";
        let lock =
            Lock::parse(text, std::path::Path::new("t.lock")).unwrap_or_else(|e| panic!("{e}"));
        let serial = serial_number(&lock);
        let uuid = serial.strip_prefix("urn:uuid:").unwrap_or_default();
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('5'));
        assert!(matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert_eq!(serial, serial_number(&lock.clone()));
        let mut other = lock;
        other.bundle = "c".to_owned();
        assert_ne!(serial, serial_number(&other));
    }

    #[test]
    fn purl_values_are_percent_encoded() {
        assert_eq!(encode("1.0+build", false), "1.0%2Bbuild");
        assert_eq!(
            encode("https://x.io/a b", true),
            "https://x.io/a%20b".to_owned()
        );
    }

    #[test]
    fn licences_use_ids_expressions_or_names() {
        let mut v = json!({});
        insert_licenses(&mut v, "MIT");
        assert_eq!(v["licenses"], json!([{"license": {"id": "MIT"}}]));
        insert_licenses(&mut v, "Apache-2.0 OR MIT");
        assert_eq!(v["licenses"], json!([{"expression": "Apache-2.0 OR MIT"}]));
        insert_licenses(&mut v, "see LICENSE, mostly BSD");
        assert_eq!(
            v["licenses"],
            json!([{"license": {"name": "see LICENSE, mostly BSD"}}])
        );
    }
}
