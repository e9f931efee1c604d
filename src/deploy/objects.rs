//! Kubernetes objects as deploy handles them: parsed from rendered charts and
//! manifest files, identified, labelled, hashed and put in install order.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::DeployError;

/// Label on every object ferry applies: the component it belongs to.
pub const LABEL_COMPONENT: &str = "ferry.dev/component";
/// Annotation on every object ferry applies: the hash of what was applied.
pub const ANNOTATION_APPLIED: &str = "ferry.dev/applied";

/// Who an object is: group/version, kind, namespace, name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectId {
    /// `apiVersion` (`apps/v1`, `v1`).
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects (or not yet defaulted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectId {
    /// The API group (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The version (`v1`).
    pub fn version(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or(self.api_version.as_str(), |(_, v)| v)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A Helm hook on an object (`helm.sh/hook` and friends).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    /// Events (`pre-install`, `post-upgrade`, ...).
    pub events: Vec<String>,
    /// `helm.sh/hook-weight`.
    pub weight: i64,
    /// `helm.sh/hook-delete-policy` (default `before-hook-creation`).
    pub delete_policies: Vec<String>,
}

/// One object to apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    /// Who it is.
    pub id: ObjectId,
    /// The whole object as it will be applied.
    pub body: Value,
    /// Where it came from (`chart/templates/x.yaml`, a file name).
    pub source: String,
    /// Its Helm hook, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<Hook>,
}

impl Object {
    /// Reads one parsed document. `None` for an empty document or a `List` handled by the caller.
    pub fn from_value(body: Value, source: &str) -> Result<Option<Self>, DeployError> {
        if body.is_null() {
            return Ok(None);
        }
        let bad = |detail: &str| DeployError::Manifest {
            origin: source.to_owned(),
            detail: detail.to_owned(),
        };
        if !body.is_object() {
            return Err(bad("a document is not a mapping (a Kubernetes object)"));
        }
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let api_version = text("apiVersion").ok_or_else(|| bad("an object has no apiVersion"))?;
        let kind = text("kind").ok_or_else(|| bad("an object has no kind"))?;
        let metadata = body.get("metadata");
        let name = metadata
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad(&format!("a {kind} has no metadata.name")))?
            .to_owned();
        let namespace = metadata
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let annotation = |key: &str| {
            metadata
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let list = |text: String| -> Vec<String> {
            text.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let hook = annotation("helm.sh/hook").map(|events| Hook {
            events: list(events),
            weight: annotation("helm.sh/hook-weight")
                .and_then(|w| w.trim().parse().ok())
                .unwrap_or(0),
            delete_policies: annotation("helm.sh/hook-delete-policy")
                .map(list)
                .unwrap_or_else(|| vec!["before-hook-creation".to_owned()]),
        });
        Ok(Some(Self {
            id: ObjectId {
                api_version,
                kind,
                namespace,
                name,
            },
            body,
            source: source.to_owned(),
            hook,
        }))
    }

    /// Sets the namespace of a namespaced object that names none.
    pub fn default_namespace(&mut self, namespace: &str) {
        if self.id.namespace.is_none() && !is_cluster_scoped_kind(&self.id.kind) {
            self.id.namespace = Some(namespace.to_owned());
            if let Some(meta) = self.body.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
            }
        }
    }

    /// Drops the namespace of an object the cluster says is cluster-scoped.
    pub fn clear_namespace(&mut self) {
        self.id.namespace = None;
        if let Some(meta) = self.body.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("namespace");
        }
    }

    /// Adds ferry's label, the applied hash and (for chart releases) Helm's ownership marks.
    pub fn mark(&mut self, component: &str, release: Option<(&str, &str)>) {
        let Some(meta) = self.body.get_mut("metadata").and_then(Value::as_object_mut) else {
            return;
        };
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(
                LABEL_COMPONENT.to_owned(),
                Value::String(component.to_owned()),
            );
            if release.is_some() {
                labels.insert(
                    "app.kubernetes.io/managed-by".to_owned(),
                    Value::String("Helm".to_owned()),
                );
            }
        }
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if !annotations.is_object() {
            *annotations = Value::Object(Default::default());
        }
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.remove(ANNOTATION_APPLIED);
            if let Some((name, namespace)) = release {
                annotations.insert(
                    "meta.helm.sh/release-name".to_owned(),
                    Value::String(name.to_owned()),
                );
                annotations.insert(
                    "meta.helm.sh/release-namespace".to_owned(),
                    Value::String(namespace.to_owned()),
                );
            }
        }
        let hash = content_hash(&self.body);
        if let Some(annotations) = self
            .body
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            annotations.insert(ANNOTATION_APPLIED.to_owned(), Value::String(hash));
        }
    }

    /// The hash ferry recorded when it applied this object.
    pub fn applied_hash(&self) -> Option<&str> {
        applied_hash(&self.body)
    }

    /// Whether the live copy already carries what applying this object would write.
    pub fn is_current(&self, live: Option<&Value>) -> bool {
        match (live, self.applied_hash()) {
            (Some(live), Some(hash)) => applied_hash(live) == Some(hash),
            _ => false,
        }
    }
}

/// The `ferry.dev/applied` annotation of an object body.
pub fn applied_hash(body: &Value) -> Option<&str> {
    body.pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION_APPLIED))
        .and_then(Value::as_str)
}

/// SHA-256 (hex, first 32 digits) of an object's canonical JSON.
fn content_hash(body: &Value) -> String {
    let text = serde_json::to_vec(&sorted(body)).unwrap_or_default();
    let digest = Sha256::digest(&text);
    hex::encode(&digest[..16])
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Parses multi-document YAML into objects (`List` kinds are expanded).
pub fn parse_documents(text: &str, source: &str) -> Result<Vec<Object>, DeployError> {
    let mut out = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| DeployError::Manifest {
            origin: source.to_owned(),
            detail: format!("not YAML: {e}"),
        })?;
        push_value(value, source, &mut out)?;
    }
    Ok(out)
}

fn push_value(value: Value, source: &str, out: &mut Vec<Object>) -> Result<(), DeployError> {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    if is_list {
        if let Some(Value::Array(items)) = value.get("items").cloned() {
            for item in items {
                push_value(item, source, out)?;
            }
        }
        return Ok(());
    }
    if let Some(object) = Object::from_value(value, source)? {
        out.push(object);
    }
    Ok(())
}

/// Kinds that are cluster-scoped in every Kubernetes (used before discovery is at hand).
pub fn is_cluster_scoped_kind(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "CustomResourceDefinition"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "PersistentVolume"
            | "StorageClass"
            | "PriorityClass"
            | "IngressClass"
            | "APIService"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "RuntimeClass"
            | "CSIDriver"
            | "VolumeSnapshotClass"
            | "Node"
            | "ClusterIssuer"
    )
}

/// The rank of a kind in Helm's install order.
pub fn install_rank(kind: &str) -> usize {
    let order = ferry_helm::INSTALL_ORDER;
    order.iter().position(|k| *k == kind).unwrap_or(order.len())
}

/// Whether the API server calls a Service behind this object (so it is applied
/// only when that Service has ready endpoints).
pub fn is_served_by_service(kind: &str) -> bool {
    matches!(
        kind,
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" | "APIService"
    )
}

/// The Services (namespace, name) a webhook configuration or APIService calls.
pub fn backing_services(object: &Object) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |service: Option<&Value>| {
        if let Some(service) = service {
            let ns = service.get("namespace").and_then(Value::as_str);
            let name = service.get("name").and_then(Value::as_str);
            if let (Some(ns), Some(name)) = (ns, name) {
                out.push((ns.to_owned(), name.to_owned()));
            }
        }
    };
    match object.id.kind.as_str() {
        "APIService" => push(object.body.pointer("/spec/service")),
        _ => {
            if let Some(Value::Array(hooks)) = object.body.get("webhooks") {
                for hook in hooks {
                    push(hook.pointer("/clientConfig/service"));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Orders a step's objects as they are installed: CRDs, then Namespaces, then
/// Helm's kind order (stable within a kind), webhook configurations and
/// APIServices last.
pub fn install_order(objects: &mut [Object]) {
    objects.sort_by_key(|o| match o.id.kind.as_str() {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        kind if is_served_by_service(kind) => 3 + ferry_helm::INSTALL_ORDER.len(),
        kind => 2 + install_rank(kind),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_names_errors_and_orders_like_helm() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: web}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: ns}}\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: hook}\nwebhooks:\n- clientConfig: {service: {namespace: ns, name: web}}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: xs.example.com}\n";
        let mut objects = parse_documents(text, "a.yaml").unwrap();
        install_order(&mut objects);
        let kinds: Vec<&str> = objects.iter().map(|o| o.id.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "CustomResourceDefinition",
                "Namespace",
                "Service",
                "Deployment",
                "ValidatingWebhookConfiguration"
            ]
        );
        assert_eq!(
            backing_services(&objects[4]),
            vec![("ns".to_owned(), "web".to_owned())]
        );
        let err = parse_documents("kind: [", "bad.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.yaml") && err.contains("not YAML"),
            "{err}"
        );
        let err = parse_documents("apiVersion: v1\nkind: ConfigMap\n", "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ConfigMap has no metadata.name"), "{err}");
    }

    #[test]
    fn marks_and_hashes_stably() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"-5\"\ndata: {a: b}\n";
        let mut a = parse_documents(text, "c.yaml").unwrap().remove(0);
        assert_eq!(
            a.hook.as_ref().map(|h| (h.events.len(), h.weight)),
            Some((2, -5))
        );
        a.default_namespace("apps");
        a.mark("portal", Some(("portal", "apps")));
        let first = a.applied_hash().unwrap().to_owned();
        a.mark("portal", Some(("portal", "apps")));
        assert_eq!(a.applied_hash(), Some(first.as_str()));
        assert_eq!(a.body["metadata"]["namespace"], "apps");
        assert_eq!(a.body["metadata"]["labels"][LABEL_COMPONENT], "portal");
        let mut b = a.clone();
        b.body["data"]["a"] = Value::String("c".into());
        b.mark("portal", Some(("portal", "apps")));
        assert_ne!(b.applied_hash(), Some(first.as_str()));
    }
}
