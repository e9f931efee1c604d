//! How a component is installed into a cluster: the `deploy:` steps of its
//! manifest, checked against what the component carries and resolved to
//! typed steps (defaults filled in, durations in seconds).
//!
//! The types here are part of the composed spec a bundle embeds, so they
//! serialise and deserialise in one shape (camelCase, `type`-tagged actions).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::files::{DeployEntry, WaitEntry};
use super::{Source, SpecError};

/// The timeout of a step that names none: five minutes, as Helm's default.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 300;

/// One step of a component's deployment, run in the order written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployStep {
    /// A display name for progress and records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the step does.
    pub action: DeployAction,
}

/// What one deploy step does: exactly one of a chart release, manifests, or a wait.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum DeployAction {
    /// Install or upgrade a Helm release of one of the component's charts.
    Chart(ChartStep),
    /// Apply plain manifest files the component carries.
    Manifests(ManifestStep),
    /// Wait for named objects to reach a condition.
    Wait(WaitStep),
}

/// A Helm release of one of the component's charts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartStep {
    /// The chart: one of the component's `charts:` names.
    pub chart: String,
    /// The release name (default: the component's name).
    pub release: String,
    /// The release namespace (default: the component's namespace, else `default`).
    pub namespace: String,
    /// The step's own values, merged under the component's bundle values
    /// (the bundle's win). `{UPPER_CASE}` placeholders are kept as text.
    pub values: serde_json::Value,
    /// When set, the step takes this key's subtree of the component's bundle
    /// values instead of all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,
    /// How long the release may take to become ready.
    pub timeout_seconds: u64,
    /// Whether to wait for the release's objects to be ready.
    pub wait: bool,
}

/// Plain manifest files applied as they are (images rewritten).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestStep {
    /// Names in the component's `files:` (multi-document YAML, `.gz` allowed), in order.
    pub files: Vec<String>,
    /// The namespace given to namespaced objects that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How long the applied objects may take to become ready.
    pub timeout_seconds: u64,
    /// Whether to wait for the applied objects to be ready.
    pub wait: bool,
}

/// A wait on named objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitStep {
    /// The objects, each with the condition it must reach.
    pub targets: Vec<WaitTarget>,
    /// How long all of them may take.
    pub timeout_seconds: u64,
}

/// An object to wait for, written `KIND[.group]/[NAMESPACE/]NAME [CONDITION]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitTarget {
    /// The kind (`Deployment`).
    pub kind: String,
    /// The API group; `""` is the core group. Inferred for well-known kinds.
    pub group: String,
    /// The namespace, when written (cluster-scoped objects and the
    /// component's own namespace need none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
    /// The condition to reach (`Available`, `Established`, `Complete`); when
    /// absent, the kind's own readiness rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// The API group a well-known kind lives in, when the text names none.
pub fn default_group(kind: &str) -> &'static str {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps",
        "Job" | "CronJob" => "batch",
        "CustomResourceDefinition" => "apiextensions.k8s.io",
        "APIService" => "apiregistration.k8s.io",
        "Ingress" => "networking.k8s.io",
        _ => "",
    }
}

impl fmt::Display for WaitTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if self.group != default_group(&self.kind) {
            // A kind whose well-known group is overridden by the core group
            // cannot be written; every other group prints as written.
            write!(f, ".{}", self.group)?;
        }
        f.write_str("/")?;
        if let Some(namespace) = &self.namespace {
            write!(f, "{namespace}/")?;
        }
        f.write_str(&self.name)?;
        if let Some(condition) = &self.condition {
            write!(f, " {condition}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for WaitTarget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut words = text.split_whitespace();
        let object = words.next().ok_or_else(|| {
            "a wait target is `KIND[.group]/[NAMESPACE/]NAME [CONDITION]`, found nothing".to_owned()
        })?;
        let condition = words.next().map(str::to_owned);
        if words.next().is_some() {
            return Err(format!(
                "wait target `{text}` has more than one condition: write `KIND[.group]/[NAMESPACE/]NAME [CONDITION]`"
            ));
        }
        let parts: Vec<&str> = object.split('/').collect();
        let (kind_group, namespace, name) = match parts.as_slice() {
            [kind, name] => (*kind, None, *name),
            [kind, namespace, name] => (*kind, Some(*namespace), *name),
            _ => {
                return Err(format!(
                    "wait target `{text}` is not `KIND[.group]/[NAMESPACE/]NAME [CONDITION]`"
                ))
            }
        };
        let (kind, group) = match kind_group.split_once('.') {
            Some((kind, group)) => (kind, Some(group)),
            None => (kind_group, None),
        };
        let kind = if kind == "CRD" {
            "CustomResourceDefinition"
        } else {
            kind
        };
        if !valid_kind(kind) {
            return Err(format!(
                "wait target `{text}`: kind `{kind}` must start with an upper-case letter and hold only letters and digits"
            ));
        }
        if let Some(group) = group {
            if !valid_subdomain(group) {
                return Err(format!(
                    "wait target `{text}`: group `{group}` is not a DNS name (lower-case letters, digits, `-`, `.`)"
                ));
            }
        }
        if let Some(namespace) = namespace {
            if !valid_label(namespace) {
                return Err(format!(
                    "wait target `{text}`: namespace `{namespace}` is not a DNS label (lower-case letters, digits, `-`)"
                ));
            }
        }
        if !valid_subdomain(name) {
            return Err(format!(
                "wait target `{text}`: name `{name}` is not a valid object name (lower-case letters, digits, `-`, `.`)"
            ));
        }
        if let Some(condition) = &condition {
            if !condition
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(format!(
                    "wait target `{text}`: condition `{condition}` must be one word (letters, digits, `-`, `_`, `.`)"
                ));
            }
        }
        Ok(Self {
            kind: kind.to_owned(),
            group: group.map_or_else(|| default_group(kind).to_owned(), str::to_owned),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            condition,
        })
    }
}

fn valid_kind(kind: &str) -> bool {
    kind.starts_with(|c: char| c.is_ascii_uppercase())
        && kind.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn valid_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

fn valid_subdomain(text: &str) -> bool {
    !text.is_empty() && text.len() <= 253 && text.split('.').all(valid_label)
}

/// Parses a Go duration made of whole `h`, `m` and `s` parts (`1h30m`, `90s`, `10m`) into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad =
        |why: &str| format!("`{text}` is not a duration: {why} (write e.g. `90s`, `10m`, `1h30m`)");
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            other => return Err(bad(&format!("unknown unit `{other}`"))),
        };
        if digits.is_empty() {
            return Err(bad(&format!("`{c}` has no number before it")));
        }
        let value: u64 = digits.parse().map_err(|_| bad("the number is too large"))?;
        total = value
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| bad("it is too long"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad("the last number has no unit"));
    }
    if total == 0 {
        return Err(bad("it must be longer than zero"));
    }
    Ok(total)
}

/// What a component offers its deploy steps, and where its manifest text is.
pub(super) struct DeployContext<'a> {
    /// The component's name (the default release name).
    pub component: &'a str,
    /// The component's namespace from the bundle spec.
    pub namespace: Option<&'a str>,
    /// The names of the charts the component carries.
    pub charts: BTreeSet<&'a str>,
    /// The names of the files the component carries.
    pub files: BTreeSet<&'a str>,
    /// The manifest, for locations.
    pub source: &'a Source,
}

/// Checks and resolves a component's `deploy:` entries.
pub(super) fn resolve_steps(
    entries: &[DeployEntry],
    context: &DeployContext<'_>,
) -> Result<Vec<DeployStep>, SpecError> {
    let spans = step_spans(&context.source.text, entries.len());
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let span = spans
                .get(index)
                .copied()
                .unwrap_or((0, context.source.text.len()));
            resolve_step(index, entry, context, span)
        })
        .collect()
}

fn resolve_step(
    index: usize,
    entry: &DeployEntry,
    context: &DeployContext<'_>,
    span: (usize, usize),
) -> Result<DeployStep, SpecError> {
    let source = context.source;
    let at = |needles: &[&str], message: String| source.error_in(span, needles, message);
    let step = index + 1;
    let actions: Vec<&str> = [
        entry.chart.as_ref().map(|_| "chart"),
        entry.manifests.as_ref().map(|_| "manifests"),
        matches!(entry.wait, Some(WaitEntry::Targets(_))).then_some("wait"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let action = match actions.as_slice() {
        [] => {
            return Err(at(
                &["-"],
                format!("deploy step {step} needs one of `chart`, `manifests` or `wait` (a list of targets)"),
            ))
        }
        [_] => actions[0],
        [first, second, ..] => {
            return Err(at(
                &[&format!("{second}:")],
                format!("deploy step {step} has both `{first}` and `{second}`: a step does exactly one of them"),
            ))
        }
    };
    let timeout_seconds = match &entry.timeout {
        Some(text) => parse_duration(text).map_err(|why| {
            at(
                &["timeout:", text],
                format!("deploy step {step}: timeout {why}"),
            )
        })?,
        None => DEFAULT_TIMEOUT_SECONDS,
    };
    let only = |allowed: &[&str]| -> Result<(), SpecError> {
        let present = [
            ("release", entry.release.is_some()),
            ("namespace", entry.namespace.is_some()),
            ("values", entry.values.is_some()),
            ("valuesKey", entry.values_key.is_some()),
        ];
        for (key, is_set) in present {
            if is_set && !allowed.contains(&key) {
                return Err(at(
                    &[&format!("{key}:")],
                    format!(
                        "deploy step {step}: `{key}` belongs to chart steps, not {action} steps"
                    ),
                ));
            }
        }
        Ok(())
    };
    let wait_flag = || {
        match &entry.wait {
        None => Ok(true),
        Some(WaitEntry::Flag(flag)) => Ok(*flag),
        Some(WaitEntry::Targets(_)) => Err(at(
            &["wait:"],
            format!("deploy step {step}: `wait` here is true or false; a list of targets is a step of its own"),
        )),
    }
    };
    let action = match action {
        "chart" => {
            let chart = entry.chart.clone().unwrap_or_default();
            if !context.charts.contains(chart.as_str()) {
                return Err(at(
                    &["chart:", &chart],
                    format!(
                        "deploy step {step}: chart `{chart}` is not one of the charts `{}` carries ({})",
                        context.component,
                        listing(&context.charts)
                    ),
                ));
            }
            if let Some(key) = &entry.values_key {
                if key.is_empty() {
                    return Err(at(
                        &["valuesKey:"],
                        format!("deploy step {step}: `valuesKey` is empty"),
                    ));
                }
            }
            let values = entry
                .values
                .clone()
                .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
            if !values.is_object() {
                return Err(at(
                    &["values:"],
                    format!("deploy step {step}: `values` must be a map"),
                ));
            }
            DeployAction::Chart(ChartStep {
                chart,
                release: entry
                    .release
                    .clone()
                    .unwrap_or_else(|| context.component.to_owned()),
                namespace: entry
                    .namespace
                    .clone()
                    .or_else(|| context.namespace.map(str::to_owned))
                    .unwrap_or_else(|| "default".to_owned()),
                values,
                values_key: entry.values_key.clone(),
                timeout_seconds,
                wait: wait_flag()?,
            })
        }
        "manifests" => {
            only(&["namespace"])?;
            let files = entry.manifests.clone().unwrap_or_default();
            if files.is_empty() {
                return Err(at(
                    &["manifests:"],
                    format!("deploy step {step}: `manifests` names no file"),
                ));
            }
            for file in &files {
                if !context.files.contains(file.as_str()) {
                    return Err(at(
                        &["manifests:", file],
                        format!(
                            "deploy step {step}: `{file}` is not one of the files `{}` carries ({})",
                            context.component,
                            listing(&context.files)
                        ),
                    ));
                }
            }
            DeployAction::Manifests(ManifestStep {
                files,
                namespace: entry.namespace.clone(),
                timeout_seconds,
                wait: wait_flag()?,
            })
        }
        _ => {
            only(&[])?;
            let texts = match &entry.wait {
                Some(WaitEntry::Targets(texts)) => texts.as_slice(),
                _ => &[],
            };
            if texts.is_empty() {
                return Err(at(
                    &["wait:"],
                    format!("deploy step {step}: `wait` names no target"),
                ));
            }
            let targets = texts
                .iter()
                .map(|text| {
                    text.parse::<WaitTarget>()
                        .map_err(|why| at(&["wait:", text], format!("deploy step {step}: {why}")))
                })
                .collect::<Result<_, _>>()?;
            DeployAction::Wait(WaitStep {
                targets,
                timeout_seconds,
            })
        }
    };
    Ok(DeployStep {
        name: entry.name.clone(),
        action,
    })
}

fn listing(names: &BTreeSet<&str>) -> String {
    if names.is_empty() {
        "it carries none".to_owned()
    } else {
        names.iter().copied().collect::<Vec<_>>().join(", ")
    }
}

/// Byte ranges of the items of the top-level `deploy:` list, one per step
/// (block style; a flow-style list yields one range for all).
fn step_spans(text: &str, count: usize) -> Vec<(usize, usize)> {
    let Some(start) = text
        .match_indices("deploy:")
        .map(|(at, _)| at)
        .find(|&at| at == 0 || text.as_bytes()[at - 1] == b'\n')
    else {
        return Vec::new();
    };
    let mut starts = Vec::new();
    let mut item_indent = None;
    let mut lines = text[start..].split_inclusive('\n');
    let mut offset = start + lines.next().map_or(0, str::len);
    for line in lines {
        let here = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent == 0 && !trimmed.starts_with('-') {
            offset = here;
            break; // the next top-level key
        }
        if trimmed.starts_with('-') && *item_indent.get_or_insert(indent) == indent {
            starts.push(here + indent);
        }
    }
    let end = offset;
    let mut spans: Vec<(usize, usize)> = starts
        .iter()
        .enumerate()
        .map(|(i, &from)| (from, starts.get(i + 1).copied().unwrap_or(end)))
        .collect();
    spans.truncate(count);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_hours_minutes_and_seconds() {
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("2h0m5s"), Ok(7205));
        for bad in ["", "5", "m", "5x", "0s", "1.5h", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad} should fail");
        }
        assert!(parse_duration("10d")
            .unwrap_err()
            .contains("unknown unit `d`"));
    }

    #[test]
    fn wait_targets_infer_groups_and_print_back() {
        let target: WaitTarget = "Deployment/ingress-nginx/ingress-nginx-controller Available"
            .parse()
            .unwrap();
        assert_eq!(
            target,
            WaitTarget {
                kind: "Deployment".into(),
                group: "apps".into(),
                namespace: Some("ingress-nginx".into()),
                name: "ingress-nginx-controller".into(),
                condition: Some("Available".into()),
            }
        );
        assert_eq!(
            target.to_string(),
            "Deployment/ingress-nginx/ingress-nginx-controller Available"
        );
        let crd: WaitTarget = "CRD/cephclusters.ceph.rook.io Established".parse().unwrap();
        assert_eq!(crd.kind, "CustomResourceDefinition");
        assert_eq!(crd.group, "apiextensions.k8s.io");
        assert_eq!(crd.namespace, None);
        let custom: WaitTarget = "CephCluster.ceph.rook.io/rook-ceph/rook-ceph"
            .parse()
            .unwrap();
        assert_eq!(custom.group, "ceph.rook.io");
        assert_eq!(custom.condition, None);
        let core: WaitTarget = "Service/harbor".parse().unwrap();
        assert_eq!(core.group, "");
        for text in [
            "CustomResourceDefinition/cephclusters.ceph.rook.io Established",
            "CephCluster.ceph.rook.io/rook-ceph/rook-ceph",
            "Service/harbor",
            "Job/kube-system/setup Complete",
            "Deployment.example.com/x",
        ] {
            let parsed: WaitTarget = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
            assert_eq!(parsed.to_string().parse::<WaitTarget>().unwrap(), parsed);
        }
    }

    #[test]
    fn bad_wait_targets_say_what_is_wrong() {
        let error = |text: &str| text.parse::<WaitTarget>().unwrap_err();
        assert!(error("deployment/x").contains("kind `deployment`"));
        assert!(error("Deployment").contains("is not `KIND"));
        assert!(error("Deployment/a/b/c").contains("is not `KIND"));
        assert!(error("Deployment/Bad_Name").contains("name `Bad_Name`"));
        assert!(error("Deployment/NS/x").contains("namespace `NS`"));
        assert!(error("Deployment.Apps/x").contains("group `Apps`"));
        assert!(error("Deployment/x Ready now").contains("more than one condition"));
        assert!(error("Deployment/x Rea:dy").contains("condition `Rea:dy`"));
        assert!(error("   ").contains("found nothing"));
    }

    #[test]
    fn steps_round_trip_through_json() {
        let steps = vec![
            DeployStep {
                name: Some("harbor".into()),
                action: DeployAction::Chart(ChartStep {
                    chart: "harbor".into(),
                    release: "harbor".into(),
                    namespace: "harbor".into(),
                    values: serde_json::json!({"expose": {"type": "ingress"}}),
                    values_key: None,
                    timeout_seconds: 600,
                    wait: true,
                }),
            },
            DeployStep {
                name: None,
                action: DeployAction::Wait(WaitStep {
                    targets: vec!["Deployment/x Available".parse().unwrap()],
                    timeout_seconds: 300,
                }),
            },
        ];
        let json = serde_json::to_value(&steps).unwrap();
        assert_eq!(json[0]["action"]["type"], "chart");
        assert_eq!(json[0]["action"]["timeoutSeconds"], 600);
        assert!(json[0]["action"].get("valuesKey").is_none());
        assert!(json[1].get("name").is_none());
        assert_eq!(json[1]["action"]["type"], "wait");
        let back: Vec<DeployStep> = serde_json::from_value(json).unwrap();
        assert_eq!(back, steps);
    }

    #[test]
    fn step_spans_split_the_deploy_list() {
        let text = "name: x\ndeploy:\n  - chart: a\n    wait: true\n  # note\n  - wait:\n      - Deployment/x\nfiles: []\n";
        let spans = step_spans(text, 2);
        assert_eq!(spans.len(), 2);
        assert!(text[spans[0].0..spans[0].1].starts_with("- chart: a"));
        assert!(text[spans[1].0..spans[1].1].starts_with("- wait:"));
        assert!(!text[spans[1].0..spans[1].1].contains("files:"));
    }
}
