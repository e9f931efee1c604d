//! A render's output as Helm prints it: template outputs split into documents (Helm 3.x/4.2's
//! rule or 4.3's), each document's kind and hook read, hooks set apart, both sorted in Helm's
//! install order, `--show-only` applied.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::render::{sort_ranked, Manifest, ManifestSplit, HOOK_EVENTS, INSTALL_ORDER};
use crate::yaml::go_yaml_message;

pub(crate) fn push_doc(out: &mut String, source: &str, content: &str) {
    out.push_str("---\n# Source: ");
    out.push_str(source);
    out.push('\n');
    out.push_str(content);
    out.push('\n');
}

pub(crate) fn is_go_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{85}' || c == '\u{a0}'
}

pub(crate) fn show_only(all: &str, show: &[String], style: ManifestSplit) -> Result<String, Error> {
    let docs = split_manifests(all, style);
    let mut out = String::new();
    for f in show {
        let mut missing = true;
        for d in &docs {
            let Some(rest) = d.strip_prefix("# Source: ") else {
                continue;
            };
            let line = rest.lines().next().unwrap_or("");
            let Some((_, name)) = line.split_once('/') else {
                continue;
            };
            if !crate::funcs::helm::glob_match(f, name) {
                continue;
            }
            out.push_str("---\n");
            out.push_str(d);
            out.push('\n');
            missing = false;
        }
        if missing {
            return Err(Error::ShowOnly(f.clone()));
        }
    }
    Ok(out)
}

/// Helm v4.2.3's SplitManifests: separators `(?:^|\s*\n)---\s*`, documents left-trimmed.
fn split_manifests(big: &str, style: ManifestSplit) -> Vec<&str> {
    if style == ManifestSplit::Current {
        return split_manifests_current(big);
    }
    let big = big.trim_start_matches(is_go_space);
    let mut out = Vec::new();
    let b = big.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let is_sp = |c: u8| matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ');
    let mut pieces = Vec::new();
    while i < b.len() {
        // find a separator starting at i: either at ^ (i==0) or whitespace* \n
        let sep_start;
        let mut j;
        if i == 0 && big.starts_with("---") {
            sep_start = 0;
            j = 3;
        } else if b[i] == b'\n' && big[i + 1..].starts_with("---") {
            // extend backwards over whitespace
            let mut k = i;
            while k > start && is_sp(b[k - 1]) {
                k -= 1;
            }
            sep_start = k;
            j = i + 4;
        } else {
            i += 1;
            continue;
        }
        while j < b.len() && is_sp(b[j]) {
            j += 1;
        }
        pieces.push(&big[start..sep_start]);
        start = j;
        i = j.max(i + 1);
    }
    pieces.push(&big[start..]);
    for d in pieces {
        if d.trim_matches(is_go_space).is_empty() {
            continue;
        }
        out.push(d.trim_start_matches(is_go_space));
    }
    out
}

/// Helm's current SplitManifests: documents separated by lines starting with `---`.
fn split_manifests_current(big: &str) -> Vec<&str> {
    let mut pieces: Vec<&str> = Vec::new();
    let mut start = 0;
    let b = big.as_bytes();
    // every line start that begins with `---`: offset 0, then each `\n---`
    let first = big.starts_with("---").then_some(0);
    let rest = memchr::memmem::find_iter(b, b"\n---").map(|i| i + 1);
    for line_start in first.into_iter().chain(rest) {
        pieces.push(&big[start..line_start]);
        let mut j = line_start + 3;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        start = j;
    }
    pieces.push(&big[start..]);
    pieces
        .into_iter()
        .filter(|d| !d.trim_matches(is_go_space).is_empty())
        .map(|d| d.trim_start_matches(is_go_space))
        .collect()
}

#[derive(serde::Deserialize, Default)]
struct Head {
    #[serde(default)]
    kind: Option<serde_norway::Value>,
    #[serde(default)]
    metadata: Option<HeadMetadata>,
}

#[derive(serde::Deserialize, Default)]
struct HeadMetadata {
    #[serde(default)]
    annotations: Option<BTreeMap<String, serde_norway::Value>>,
}

fn scalar_text(v: &serde_norway::Value) -> String {
    match v {
        serde_norway::Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// The `kind` and `helm.sh/hook` annotation of a document (the first one, as Helm reads it).
fn doc_head(d: &str) -> Result<(String, Option<String>), String> {
    use serde::Deserialize as _;
    if let Some(h) = crate::fasthead::fast_head(d) {
        return Ok(h);
    }
    let Some(doc) = serde_norway::Deserializer::from_str(d).next() else {
        return Ok((String::new(), None));
    };
    match Head::deserialize(doc) {
        Ok(h) => {
            let kind = match &h.kind {
                Some(serde_norway::Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            let hook = h
                .metadata
                .and_then(|m| m.annotations)
                .and_then(|a| a.get("helm.sh/hook").map(scalar_text));
            Ok((kind, hook))
        }
        Err(_) => {
            // not a mapping of the expected shape: read it as a generic value
            let v: serde_norway::Value = match serde_norway::Deserializer::from_str(d).next() {
                Some(doc) => serde_norway::Value::deserialize(doc).map_err(|e| e.to_string())?,
                None => serde_norway::Value::Null,
            };
            let kind = match v.get("kind") {
                Some(serde_norway::Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            let hook = v
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get("helm.sh/hook"))
                .map(scalar_text);
            Ok((kind, hook))
        }
    }
}

/// Sorts manifests in Helm's install order: known kinds in their order, then unknown kinds by
/// name; stable, as Helm's sort is.
fn sort_by_kind(manifests: &mut Vec<Manifest>) {
    let unknown = INSTALL_ORDER.len();
    sort_ranked(
        manifests,
        |m| {
            INSTALL_ORDER
                .iter()
                .position(|k| *k == m.kind)
                .unwrap_or(unknown)
        },
        |rank, a, b| {
            if *rank == unknown {
                a.kind.cmp(&b.kind)
            } else {
                std::cmp::Ordering::Equal
            }
        },
    );
}

type DocHead = Result<(String, Option<String>), String>;

/// Where each document of one template's output sits in it (none for partials and empty
/// outputs).
fn template_docs(path: &str, content: &str, style: ManifestSplit) -> Vec<std::ops::Range<usize>> {
    let base = path.rsplit('/').next().unwrap_or(path);
    if base.starts_with('_') || content.trim_matches(is_go_space).is_empty() {
        return Vec::new();
    }
    let origin = content.as_ptr() as usize;
    split_manifests(content, style)
        .into_iter()
        // the document is a slice of the output: its offset
        .map(|d| d.as_ptr() as usize - origin..d.as_ptr() as usize - origin + d.len())
        .collect()
}

pub(crate) fn sort_manifests(
    files: &BTreeMap<String, String>,
    style: ManifestSplit,
) -> Result<(Vec<Manifest>, Vec<Manifest>), Error> {
    let mut hooks = Vec::new();
    let mut generic = Vec::new();
    for (path, content) in files {
        for range in template_docs(path, content, style) {
            let head: DocHead = doc_head(content.get(range.clone()).unwrap_or(""));
            let (kind, hook) = match head {
                Ok(h) => h,
                Err(e) => {
                    return Err(Error::Yaml {
                        template: path.clone(),
                        message: go_yaml_message(&e),
                    })
                }
            };
            match hook {
                None => generic.push(Manifest {
                    source: path.clone(),
                    range,
                    kind,
                    hook_events: Vec::new(),
                }),
                Some(h) => {
                    let events: Vec<String> =
                        h.split(',').map(|t| t.trim().to_lowercase()).collect();
                    if events.iter().any(|t| !HOOK_EVENTS.contains(&t.as_str())) {
                        continue;
                    }
                    hooks.push(Manifest {
                        source: path.clone(),
                        range,
                        kind,
                        hook_events: events,
                    });
                }
            }
        }
    }
    sort_by_kind(&mut generic);
    sort_by_kind(&mut hooks);
    Ok((hooks, generic))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]

    use super::*;

    /// Documents are split per template, hooks set apart, and both sorted in Helm's install
    /// order.
    #[test]
    fn manifests_and_hooks_sort_in_install_order() {
        let doc = |kind: &str, name: &str| {
            format!("apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n")
        };
        let mut files = BTreeMap::new();
        files.insert(
            "c/templates/a.yaml".to_string(),
            format!(
                "{}---\n{}---\n{}",
                doc("Service", "s"),
                doc("Namespace", "n"),
                doc("ConfigMap", "m")
            ),
        );
        files.insert(
            "c/templates/b.yaml".to_string(),
            format!(
                "{}---\n{}",
                doc("Deployment", "d"),
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    helm.sh/hook: pre-install\n"
            ),
        );
        let (hooks, generic) = sort_manifests(&files, ManifestSplit::Current).unwrap();
        let kinds = |ms: &[Manifest]| ms.iter().map(|m| m.kind.clone()).collect::<Vec<_>>();
        assert_eq!(kinds(&hooks), ["Pod"]);
        assert_eq!(hooks[0].hook_events, ["pre-install"]);
        assert_eq!(
            kinds(&generic),
            ["Namespace", "ConfigMap", "Service", "Deployment"]
        );
        let m = &generic[1];
        assert_eq!(&files[&m.source][m.range.clone()], doc("ConfigMap", "m"));
    }
}
